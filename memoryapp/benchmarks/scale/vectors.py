"""Clustered synthetic unit embeddings: shared topics, each owner's take on them, noise.

People talk about the same things (work, food, travel), so owners share topics: there are
GLOBAL_TOPICS directions, popular ones chosen more often. An owner has a few to 64 topics,
each a noisy copy of a global one (cosine about 0.8 to it), weighted unevenly. A unit is a
noisy point around one of its owner's topics (cosine about 0.7 to it, about 0.5 between two
units of one topic, about 0.3 to another owner's units of the same global topic); its
summary embedding is a noisy copy of its key embedding (cosine about 0.9). A query is
another noisy point around one of the owner's topics. Other owners' units of the same
global topic are what an owner-filtered HNSW scan has to skip. All vectors are unit length,
float32, as the app stores them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memoryapp.embeddings import EMBEDDING_DIM

Matrix = npt.NDArray[np.float32]

GLOBAL_TOPICS = 512
OWNER_TOPICS_MAX = 64
OWNER_SPREAD = 0.75  # noise norm of an owner's topic around its global topic
UNIT_SPREAD = 1.0  # of a unit around its owner's topic
SUMMARY_SPREAD = 0.5  # of a summary embedding around its key embedding
QUERY_SPREAD = 1.0  # of a query around one of its owner's topics


def normalised(vectors: Matrix) -> Matrix:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: Matrix = (vectors / norms).astype(np.float32)
    return result


def noise(rng: np.random.Generator, rows: int, spread: float) -> Matrix:
    """Gaussian noise whose rows have a norm of about `spread`."""
    scale = np.float32(spread / np.sqrt(EMBEDDING_DIM))
    result: Matrix = rng.standard_normal((rows, EMBEDDING_DIM), dtype=np.float32) * scale
    return result


@dataclass(frozen=True)
class OwnerTopics:
    """One owner's topic centroids and how often each comes up."""

    centroids: Matrix
    weights: npt.NDArray[np.float64]

    def pick(self, rng: np.random.Generator, count: int) -> npt.NDArray[np.int64]:
        return rng.choice(len(self.weights), size=count, p=self.weights)


class TopicSpace:
    """The shared global topics; popular topics (low index) are chosen more often. `topics`
    gives them (e.g. real texts' embeddings, GLOBAL_TOPICS rows); random ones otherwise."""

    def __init__(self, rng: np.random.Generator, topics: Matrix | None = None) -> None:
        self.topics = normalised(noise(rng, GLOBAL_TOPICS, 1.0) if topics is None else topics)
        popularity = 1.0 / (np.arange(GLOBAL_TOPICS) + 10.0)
        self.popularity = popularity / popularity.sum()

    def owner_topics(self, rows: int, rng: np.random.Generator) -> OwnerTopics:
        """Topics for an owner of `rows` units: more of them for larger owners."""
        count = int(np.clip(round(np.sqrt(rows) / 2), 3, OWNER_TOPICS_MAX))
        chosen = rng.choice(GLOBAL_TOPICS, size=count, replace=False, p=self.popularity)
        centroids = normalised(self.topics[chosen] + noise(rng, count, OWNER_SPREAD))
        return OwnerTopics(centroids, rng.dirichlet(np.ones(count)))


def units_around(centroids: Matrix, rng: np.random.Generator) -> tuple[Matrix, Matrix]:
    """Key and summary embeddings of units around the given centroids, one per row."""
    keys = normalised(centroids + noise(rng, len(centroids), UNIT_SPREAD))
    summaries = normalised(keys + noise(rng, len(keys), SUMMARY_SPREAD))
    return keys, summaries


def query_near(topics: OwnerTopics, rng: np.random.Generator) -> Matrix:
    """A query vector near one of the owner's topics (a 1 x dim matrix)."""
    topic = int(topics.pick(rng, 1)[0])
    return normalised(topics.centroids[topic : topic + 1] + noise(rng, 1, QUERY_SPREAD))


def around(centres: Matrix, spread: float, rng: np.random.Generator) -> Matrix:
    """A noisy unit vector around each row of `centres`: cosine to it about
    1 / sqrt(1 + spread**2) (0.7 at a spread of 1.0)."""
    return normalised(centres + noise(rng, len(centres), spread))
