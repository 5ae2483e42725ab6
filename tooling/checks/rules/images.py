"""Images: prod runs pinned images."""

from __future__ import annotations

from collections.abc import Iterator

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, manifest_finding
from tooling.infra.k8s import containers, pod_spec
from tooling.infra.repository import Repository
from tooling.model import PROD


def check_prod_image_tags(repo: Repository) -> Iterator[Finding]:
    for deployment, manifests in repo.rendered.items():
        if deployment.env != PROD:
            continue
        for manifest in manifests:
            spec = pod_spec(manifest.obj)
            for container in containers(spec) if spec is not None else ():
                image = str(container.get("image") or "")
                problem = image_tag_problem(image)
                if problem:
                    yield manifest_finding(
                        manifest,
                        deployment.namespace,
                        "prod-image-tag",
                        f"container {container.get('name')} image {image!r} {problem}",
                    )


def image_tag_problem(image: str) -> str | None:
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag"
    tag = last.rsplit(":", 1)[1]
    return "uses the moving tag 'latest'" if tag in ("", "latest") else None


RULES = (
    Rule("prod-image-tag", "prod runs pinned images, never 'latest' or untagged", check_prod_image_tags),
)
