"""One run into its run folder: build it, resume it, train it, and write its records and reports."""
