"""Coreset selectors: one module each, registered with `@register("selector", name)`."""

from methods.discover import import_all

import_all(__name__, __path__)
