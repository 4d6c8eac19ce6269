"""Crystal data: readers, datasets, preprocessing, tensors and graphs."""
