"""What every layer shares and nothing in it depends on: errors, the registry of plug-ins, the settings
records gin fills, seeds, atomic files, and the one definition of each record a run writes."""
