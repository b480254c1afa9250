"""Agent Workbench: build, measure and ship event-driven retrieval-augmented agents.

Importing the package is cheap: the loop and its protocols pull in no ML or cloud library;
each backend is imported when a config chooses it.
"""

__version__ = "0.1.0"
