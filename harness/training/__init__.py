"""Training one network: the loop and everything it drives (the schedule of selections, the pruning
mechanism and sparsity targets, the selection interface, state preservation, FLOPs, the fast path)."""
