"""The ``bridgework`` command line: what operators and coordinators run from a terminal."""
