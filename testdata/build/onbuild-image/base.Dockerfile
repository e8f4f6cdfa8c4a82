FROM busybox:latest
RUN echo base > /base
ONBUILD ENV TRIGGERED=yes
ONBUILD COPY trigger.txt /from-trigger.txt
ONBUILD RUN echo "ran in child as $(id -u)" > /trigger-ran
LABEL base=onbuild
