"""Online pruners: one module each, registered with `@register("pruner", name)`."""

from methods.discover import import_all

import_all(__name__, __path__)
