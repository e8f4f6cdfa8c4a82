FROM busybox:latest
RUN echo "from a script: /dev/pipes/EOF" > /script-ran
