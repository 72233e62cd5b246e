"""Studies: planners emit trials, runners execute them, a SQLite store records them, and the
analysis and report read the store (RegNet's design-space method, ResNet-RS and EfficientNet
scaling studies, the ResNet-RS additive ablation)."""
