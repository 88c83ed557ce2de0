# Domke's f = exp(exp(x) + exp(x)^2) + sin(exp(x) + exp(x)^2) as intermediate variables
a = exp(x)
b = a^2
c = a + b
d = exp(c)
e = sin(c)   # e is assigned here, so it is a variable, not Euler's number
f = d + e
