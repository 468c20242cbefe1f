"""Tiny inline LoCoMo and LongMemEval data, shaped like the real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LOCOMO_SAMPLE: dict[str, Any] = {
    "sample_id": "conv-1",
    "conversation": {
        "speaker_a": "Ann",
        "speaker_b": "Bob",
        # Out of order on purpose: sessions are ordered by number, not by key order.
        "session_2_date_time": "10:37 am on 27 June, 2023",
        "session_2": [
            {"speaker": "Bob", "dia_id": "D2:1", "text": "How is Pixel doing?"},
            {
                "speaker": "Ann",
                "dia_id": "D2:2",
                "text": "Pixel learned to sit, and we moved to Lisbon.",
            },
        ],
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a dog named Pixel."},
            {
                "speaker": "Bob",
                "dia_id": "D1:2",
                "text": "Lovely! Look at my garden.",
                "img_url": ["https://example.org/garden.jpg"],
                "blip_caption": "a photo of a garden with red roses",
                "query": "garden roses",
            },
            {"speaker": "Ann", "dia_id": "D1:3", "text": "Your roses are beautiful."},
        ],
    },
    "qa": [
        {
            "question": "What is Ann's dog called?",
            "answer": "Pixel",
            "evidence": ["D1:1"],
            "category": 4,
        },
        {
            "question": "Where did Ann move?",
            "answer": "Lisbon",
            "evidence": ["D2:02"],
            "category": 2,
        },
        {
            "question": "What did Ann's dog learn after she adopted it?",
            "answer": "to sit",
            "evidence": ["D1:1; D:2:2"],
            "category": 1,
        },
        {
            "question": "What is Bob's cat called?",
            "adversarial_answer": "Bob has no cat",
            "evidence": ["D1:2"],
            "category": 5,
        },
        {"question": "Does Ann like flowers?", "answer": "yes", "evidence": [], "category": 3},
        {"question": "What did Bob cook?", "answer": "soup", "evidence": ["D9:9"], "category": 4},
    ],
    "event_summary": {},
    "observation": {},
    "session_summary": {},
}

LONGMEMEVAL: list[dict[str, Any]] = [
    {
        "question_id": "q1",
        "question_type": "single-session-user",
        "question": "Where did I move?",
        "answer": "Lisbon",
        "question_date": "2023/06/01 (Thu) 10:00",
        "answer_session_ids": ["s2"],
        "haystack_session_ids": ["s1", "s2"],
        "haystack_dates": ["2023/05/20 (Sat) 02:21", "2023/05/21 (Sun) 09:00"],
        "haystack_sessions": [
            [
                {"role": "user", "content": "I need a recipe for rye bread."},
                {"role": "assistant", "content": "Mix rye flour, water, salt and a starter."},
            ],
            [
                {"role": "user", "content": "Hi there"},
                {"role": "assistant", "content": "Hello! How can I help?", "has_answer": True},
                {
                    "role": "user",
                    "content": "I just moved to Lisbon with my dog.",
                    "has_answer": True,
                },
                {"role": "assistant", "content": "Welcome to Lisbon!"},
            ],
        ],
    },
    {
        "question_id": "q2_abs",
        "question_type": "single-session-user",
        "question": "What is my cat called?",
        "answer": "You did not mention a cat.",
        "question_date": "2023/06/01 (Thu) 10:00",
        "answer_session_ids": [],
        "haystack_session_ids": ["s3"],
        "haystack_dates": ["2023/05/20 (Sat) 02:21"],
        "haystack_sessions": [[{"role": "user", "content": "I like dogs.", "has_answer": True}]],
    },
    {
        "question_id": "q3",
        "question_type": "single-session-assistant",
        "question": "Which flour did you suggest?",
        "answer": "rye",
        "question_date": "2023/06/02 (Fri) 08:00",
        "answer_session_ids": ["s4"],
        "haystack_session_ids": ["s4"],
        "haystack_dates": ["2023/05/22 (Mon) 12:00"],
        "haystack_sessions": [
            [
                {"role": "user", "content": "Which flour for bread?"},
                {"role": "assistant", "content": "Rye flour.", "has_answer": True},
            ]
        ],
    },
]


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
