"""``bundles:``: images that move as one unit; bad bundles are refused with file, line, key."""

from __future__ import annotations

import pytest

from promoter.config import Bundle, parse_config
from promoter.errors import ConfigError

HEAD = """\
environments: [{name: dev, paths: [d]}, {name: prod, paths: [p]}]
images:
  - {name: api, repository: ghcr.io/acme/api}
  - {name: worker, repository: ghcr.io/acme/worker}
  - {name: web, repository: ghcr.io/acme/web}
"""


def test_bundles_and_the_unit_an_image_moves_in() -> None:
    cfg = parse_config(HEAD + "bundles:\n  - {name: backend, images: [api, worker]}\n")
    assert cfg.bundles == (Bundle(name="backend", images=("api", "worker")),)
    assert cfg.bundle_of("worker") == cfg.bundles[0] and cfg.bundle_of("web") is None
    assert (cfg.unit("api"), cfg.unit("web")) == ("backend", "web")
    assert parse_config(HEAD).bundles == ()


@pytest.mark.parametrize(("bundles", "message"), [
    ("  - {name: backend, images: [api, wroker]}\n",
     ".promoter.yaml:7:35: bundles[0].images[1]: unknown image 'wroker' "
     "(did you mean 'worker'?)"),
    ("  - {name: backend, images: [api, worker]}\n  - {name: front, images: [web, api]}\n",
     ".promoter.yaml:8:33: bundles[1].images[1]: 'api' is in bundle 'backend' already "
     "(bundles[0]); an image belongs to one bundle at most"),
    ("  - {name: backend, images: [api]}\n  - {name: backend, images: [web]}\n",
     ".promoter.yaml:8:12: bundles[1].name: duplicate bundle 'backend'"),
    ("  - {name: web, images: [api]}\n",
     ".promoter.yaml:7:12: bundles[0].name: 'web' is an image's name; give the bundle its own "
     "(it names branches and pull requests)"),
    ("  - {name: backend, images: []}\n",
     ".promoter.yaml:7:29: bundles[0].images: must not be empty"),
    ("  - {name: backend}\n",
     ".promoter.yaml:7:5: bundles[0]: missing required key 'images'"),
])
def test_bad_bundles(bundles: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(HEAD + "bundles:\n" + bundles)
    assert str(info.value) == message
