"""Clustering on top of trained autoencoders: cluster the codes (KMeans, a Gaussian mixture) or refine the
autoencoder and the clusters together (IDEC).

    >>> from aekit import LatentClustering
    >>> clustering = LatentClustering(n_clusters=10, method="idec", random_state=0).fit(X)
    >>> clustering.labels_                       # the cluster of each training sample
    >>> clustering.predict(X_new)                # of new samples
"""

from aekit.cluster.estimator import METHODS, LatentClustering, default_latent_dim

__all__ = ["METHODS", "LatentClustering", "default_latent_dim"]
