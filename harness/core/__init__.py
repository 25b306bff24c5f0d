"""What every layer shares and nothing in it depends on: errors, the registry of plug-ins, the settings
records gin fills, seeds, atomic files, locks across processes and hosts, the one definition of each record
a run writes, number checks and torch's thread count."""
