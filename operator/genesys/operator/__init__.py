"""genesys.operator: the Kubernetes runtime of an Evolution.

Its pure core, testable without a cluster: names of children (`names`), custom resources
-> `EvolutionState` (`state`), and every child manifest (`builders`, `training`, `pods`).
"""
