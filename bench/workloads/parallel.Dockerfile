# Parallel stages: four independent stages sleep 2 s each, the last stage copies
# from all four; critical path 2 s. The same file as ../shared/bench W3.
FROM benchbase:1 AS a
RUN sleep 2 && echo a > /out
FROM benchbase:1 AS b
RUN sleep 2 && echo b > /out
FROM benchbase:1 AS c
RUN sleep 2 && echo c > /out
FROM benchbase:1 AS d
RUN sleep 2 && echo d > /out
FROM benchbase:1
COPY --from=a /out /a
COPY --from=b /out /b
COPY --from=c /out /c
COPY --from=d /out /d
