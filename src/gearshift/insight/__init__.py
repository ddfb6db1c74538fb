"""Money control: analysis, budgets, forecasts, alerts, true cost, recommendations, planning."""
