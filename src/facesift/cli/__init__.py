"""The command line: a thin surface over ``facesift.services``."""
