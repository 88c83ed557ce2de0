# Domke's f in closed form; the graph shares exp(x) and exp(x) + exp(x)^2
exp(exp(x) + exp(x)^2) + sin(exp(x) + exp(x)^2)
