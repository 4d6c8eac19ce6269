"""GNN property predictors on the shared CrystalGraph: models, training, inference, ensembles."""
