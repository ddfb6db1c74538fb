"""The embedded demo: realistic data that shows every part of gearshift."""
