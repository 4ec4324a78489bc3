"""Datasets: each one a LightningDataModule plus a DVC `prepare` step."""
