from __future__ import annotations

from memoryapp.rendering import render_markdown


def test_markdown_renders_code_lists_and_safe_links() -> None:
    html = render_markdown(
        "**bold**\n\n- a\n- b\n\n```py\nx = 1\n```\n\n[site](https://example.org)"
    )

    assert "<strong>bold</strong>" in html
    assert "<li>a</li>" in html
    assert '<code class="language-py">x = 1' in html
    assert 'href="https://example.org"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_raw_html_and_script_urls_never_survive() -> None:
    html = render_markdown(
        '<script>alert(1)</script><img src=x onerror="alert(2)">'
        "[click](javascript:alert(3)) <a href='javascript:alert(4)'>x</a>"
    )

    assert "<script" not in html
    assert "<img" not in html
    assert 'href="javascript' not in html
    assert "&lt;script&gt;" in html  # shown as text
