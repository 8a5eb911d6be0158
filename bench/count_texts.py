# ruff: noqa: RUF001 (prose in other scripts, on purpose)
"""Texts in several scripts for bench/count_unique.py: ~20 KB each, every one unique.

The prose below was written for this bench (no corpus is fetched). English comes from the
floor's prompt and the project's own docs, code from the project's own sources; CJK and
Cyrillic from the short passages here, their sentences shuffled with a numbered mark so that
no two texts are alike (the segment cache never helps).
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "admission" / "corpus.jsonl"

CHINESE = """\
网关在每个请求到达时先检查密钥，然后根据租户的配额决定是否放行。\
如果某个工作节点在高峰期重启，正在传输的流式响应就会被中断，客户端只能看到一半的答案。\
值班工程师首先应该查看健康检查的结果，再确认有多少客户受到了影响。\
我们把每个租户每分钟使用的令牌数量记录下来，以便在月底生成准确的账单。\
分词器把一段文字切成许多小片段，再把相邻的字节按照合并顺序组合成词元。\
中文没有空格，所以一个句子在预分词之后往往是一整段很长的文字。\
这种情况下，朴素的合并算法需要反复扫描整段字节，花费的时间会随着长度迅速增长。\
为了让新提示词的计数比参考实现更快，我们需要更好的数据结构和更少的内存分配。\
测试会把我们的结果与官方分词器逐个比较，任何一个编号不同都算失败。\
昨天晚上的负载测试显示，在每秒四十个请求的情况下，尾部延迟仍然保持稳定。\
运维手册里写着：先排空节点，再重启进程，最后在事故记录中写明原因和影响范围。\
如果缓存命中率很低，说明大部分请求都是第一次出现的内容，这正是真实流量的常态。\
模型服务的成本主要来自显卡，但网关本身的延迟也会影响用户的体验。\
在共享的机器上，一次测量很难区分我们自己的停顿和邻居进程造成的干扰。\
因此每个比较都要在同一次运行中交替进行，并报告多轮结果的中位数。\
"""

JAPANESE = """\
ゲートウェイは各リクエストのキーを確認し、テナントごとの制限を適用してから転送します。\
トークナイザーは文章を小さな断片に分け、隣り合うバイトを順番に結合していきます。\
日本語には単語の間に空白がないので、ひらがなと漢字が続く限り一つの長い断片になります。\
東京の開発チームは、新しいプロンプトの数え方がどれだけ速くなったかを毎週確認しています。\
障害が起きたときは、まず監視画面を見て、影響を受けた顧客の数を調べてください。\
キャッシュが効かない初めての文章こそ、実際のトラフィックでは最も多いのです。\
"""

RUSSIAN = """\
Шлюз проверяет ключ каждого запроса, применяет ограничения арендатора и только потом \
пересылает запрос свободному рабочему узлу. Если узел перезапускается в час пик, потоковые \
ответы обрываются на середине, и клиент видит лишь половину ответа. Дежурный инженер сначала \
смотрит на проверки состояния, затем выясняет, сколько клиентов пострадало. Мы записываем, \
сколько токенов израсходовал каждый арендатор, чтобы в конце месяца выставить точный счёт. \
Токенизатор разрезает текст на небольшие фрагменты и объединяет соседние байты в порядке \
слияний. Кириллица занимает по два байта на букву, поэтому слова получаются длиннее, чем в \
английском тексте. Наивный алгоритм слияния многократно просматривает весь фрагмент, и время \
растёт быстрее, чем его длина. Тесты сравнивают наши идентификаторы с эталонным токенизатором, \
и любое расхождение считается ошибкой. Вчерашний нагрузочный тест показал, что при сорока \
запросах в секунду задержка хвоста остаётся стабильной. В руководстве написано: сначала \
вывести узел из работы, затем перезапустить процесс и описать причину в отчёте об инциденте. \
Низкая доля попаданий в кэш означает, что большинство запросов приходят впервые, а это и \
есть обычный реальный трафик. На общей машине одно измерение не отличает наши паузы от \
помех соседних процессов, поэтому сравнения чередуются в одном запуске.
"""

SIZE = 20_000


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[。．.!?！？])\s*", text) if s.strip()]


def _shuffled(pool: list[str], n: int, seed: int, sep: str) -> list[str]:
    """`n` texts of about SIZE bytes: the pool's sentences shuffled, with a numbered mark."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        parts, size = [f"[{i * 7919 + 13}]"], 0
        while size < SIZE:
            s = rng.choice(pool)
            parts.append(s)
            size += len(s.encode()) + len(sep)
        out.append(sep.join(parts))
    return out


def _slices(text: str, n: int) -> list[str]:
    """`n` texts of about SIZE bytes cut from `text` at different places."""
    step = max(1, (len(text) - SIZE) // max(1, n))
    return [f"# {i}\n" + text[i * step : i * step + SIZE] for i in range(n)]


def _files(pattern: str) -> str:
    """The files' text, with the added tokens they quote defused (tiktoken's
    `encode_ordinary`, the reference here, reads them as text; the core as one token)."""
    text = "\n".join(p.read_text() for p in sorted(REPO.glob(pattern)))
    return text.replace("<|", "<!").replace("tool_call>", "tool-call>")


def english(n: int) -> list[str]:
    return _slices(_files("docs/*.md") + _files("README.md"), n)


def cjk(n: int) -> list[str]:
    return _shuffled(_sentences(CHINESE) + _sentences(JAPANESE), n, 2, "")


def cyrillic(n: int) -> list[str]:
    return _shuffled(_sentences(RUSSIAN), n, 3, " ")


def code(n: int) -> list[str]:
    return _slices(_files("python/provocapi/**/*.py") + _files("rust/src/**/*.rs"), n)


def mixed(n: int) -> list[str]:
    """The admission corpus (every script, emoji, runs of 1,000 `a`s and 1,700 `ab`s that
    merge as one long piece), code and JSON: the long text the bench used before."""
    corpus = "\n".join(json.loads(x) for x in CORPUS.read_text().split("\n") if x)
    code = (REPO / "bench" / "floor.py").read_text()[:6000]
    base = corpus + "\n" + code + "\n" + json.dumps({"xs": list(range(400))})
    # in NFC, as Qwen's reference normalizes first (tiktoken alone would not)
    base = unicodedata.normalize("NFC", (base * 4)[:SIZE])
    return [f"[{i}] " + base for i in range(n)]


SCRIPTS = {
    "English": english,
    "CJK": cjk,
    "Cyrillic": cyrillic,
    "code": code,
    "mixed": mixed,
}
