# The mlcheck pytest plugin is registered through the `pytest11` entry point of the installed
# package; this file only marks the project root for pytest's rootdir discovery.
