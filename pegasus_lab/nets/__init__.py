"""Networks: plain nn.Modules, one file per architecture family."""
