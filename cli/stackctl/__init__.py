"""stackctl: declarative ML platform stacks, rendered to Terraform and proven by smoke tests."""

__version__ = "0.1.0"
