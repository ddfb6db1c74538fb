"""gearshift"""
