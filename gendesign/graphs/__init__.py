"""Graph construction shared by every GNN (periodic neighbour lists)."""
