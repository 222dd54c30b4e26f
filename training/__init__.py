"""Model training: datasets, models, backtest, MLflow tracking and registry, the exported bundle."""
