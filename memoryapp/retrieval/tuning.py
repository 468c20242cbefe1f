"""Every retrieval constant that was chosen by measuring, in one place, each with the
measurement that chose it. Change one only with `memory_eval` numbers (LoCoMo and LongMemEval
development splits together, aggregates only) or `memory_bench` numbers, and update its
comment. Constants that were not fitted (the fact and segment list lengths, the packer's
minimum useful budget, `denoise.CONTEXT_REPLY_WORDS`) stay beside the code that uses them.
"""

from __future__ import annotations

# Reciprocal-rank fusion constant of every list: compared with the usual 60 on both splits
# when turn-level retrieval landed (4725ab8); no per-value table was recorded.
RRF_K = 20
# The turns' dense list counts this much more than their full-text list. Recall-all at
# 1,024 tokens, LongMemEval / LoCoMo: 1.0 gives 0.887 / 0.806, 1.5 gives 0.927 / 0.804,
# 2.0 gives 0.919 / 0.796 (2c37383).
DENSE_TURN_WEIGHT = 1.5
# A turn's share of its segment's score, and of its neighbours' (an answer borrows from the
# question before it, a question less from its answer): chosen together on both splits'
# aggregates (6629062). LoCoMo's short turns need their neighbours, LongMemEval's long ones
# do not. No per-value table was recorded.
SEGMENT_WEIGHT = 0.2
NEIGHBOUR_WEIGHT = 0.25
PREVIOUS_SHARE = 1.0
NEXT_SHARE = 0.5
# Boosts for the person the question is about and the period it names, as fractions of the
# best turn's score: chosen on both splits' aggregates (4725ab8, 6629062); no per-value table
# was recorded.
FOCUS_BOOST = 0.6
TIME_BOOST = 0.5
# Tokens a long turn may show (the sentences nearest the question): LongMemEval's long turns
# crowded a 1,024-token context; the assistant's words get half the room of people's, being
# context for them (60a3c1f).
TURN_MAX_TOKENS = 100
REPLY_MAX_TOKENS = 50
# Turns each turn list brings, and the best segments whose every turn is a candidate
# (4725ab8).
TURN_LIST_LENGTH = 50
SEGMENTS_EXPANDED = 3
# `memory_bench retrieval`: an exact scan of up to 10k rows of one owner stays under 20 ms
# p95 with recall 1.0; above that, the HNSW index (STACK.md's measurements).
EXACT_SCAN_MAX_ROWS = 10_000
# `memory_bench retrieval` at 1M units: recall@10 of about 0.95 for owners of 20k-130k rows
# takes pgvector's maximum with this graph (m 16, ef_construction 64).
HNSW_EF_SEARCH = 1000
