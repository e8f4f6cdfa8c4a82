# One RUN true, built cold: the fixed cost of a build, subtracted from the 50-step
# build to get the marginal cost of a step.
FROM benchbase:1
RUN true
