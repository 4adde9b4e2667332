"""Local anvil nodes: started for the demo world, the tests and `simulate's forks."""
