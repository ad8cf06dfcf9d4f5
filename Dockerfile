# syntax=docker/dockerfile:1
# The prismrec image: the `prismrec` command (serve, retrain, train ...) on CPU torch.
#
#   docker build -t prismrec:0.1.0 .
#   docker run -p 8000:8000 -v "$PWD/runs/models:/models:ro" -e PRISMREC_WATCH=/models \
#       -e PRISMREC_STORE=redis://redis:6379/0 prismrec:0.1.0
#
# Two stages: the first builds a virtualenv with torch pinned to its CPU build (the plain Linux
# wheel brings CUDA libraries, several GB) and prismrec with its dependencies; the second copies
# that virtualenv onto a slim Python without build tools or caches and runs as an unprivileged
# user. deploy/compose.yaml and deploy/k8s/ run this image; docs/how-to/scale-out.md walks
# through both. tests/test_deploy.py lints this file (hadolint) and checks what it promises.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/prismrec
ENV PATH=/opt/prismrec/bin:$PATH
# torch first, from PyTorch's CPU index, so that installing prismrec finds it satisfied
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md LICENSE NOTICE ./
COPY src ./src
RUN pip install . \
    && pip check

FROM python:${PYTHON_VERSION}-slim-bookworm
LABEL org.opencontainers.image.title="prismrec" \
      org.opencontainers.image.description="Multi-interest, content-aware, real-time recommender" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 prismrec \
    && useradd --system --uid 10001 --gid prismrec --home-dir /var/lib/prismrec --create-home \
       --shell /usr/sbin/nologin prismrec
COPY --from=build /opt/prismrec /opt/prismrec
ENV PATH=/opt/prismrec/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/prismrec
WORKDIR /var/lib/prismrec
USER 10001:10001
EXPOSE 8000
# ready = model, index and store loaded (GET /readyz); the first start of a large catalogue
# builds its ANN index, hence the long start period
HEALTHCHECK --interval=10s --timeout=3s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
ENTRYPOINT ["prismrec"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
