"""aster-mm: the market maker's parts (decisions, orders, streams, signing, configuration)."""
