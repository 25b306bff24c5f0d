"""Studies: suites declared in gin files (`grid.study`), and the plug-ins they bring (`studies/plugins/`)."""
