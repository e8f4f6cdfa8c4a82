# No-op rebuild: 10 steps over a generated 10,000-file, ~100 MB context, rebuilt
# with nothing changed. The same file as ../shared/bench W1.
FROM benchbase:1
ENV APP=/app LANG=C.UTF-8
WORKDIR /app
RUN echo "built by kbench" > /etc/kbench && mkdir -p /app/out
COPY g000 /app/first
RUN find /app/first -type f | wc -l > /app/out/first-count
COPY . /app/src
RUN du -s /app/src > /app/out/du
ENV STAGE=final
WORKDIR /app/src
RUN test -s /app/out/du && ls /app/out > /app/out/list
