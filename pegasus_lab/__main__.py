"""`python -m pegasus_lab` is `pegasus-train`."""
from pegasus_lab.cli.train import main

main()
