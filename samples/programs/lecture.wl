# f(x1, x2) = ln(x1) + x1*x2 - sin(x2), the lecture's forward/reverse example (at (2, 5))
ln(x1) + x1*x2 - sin(x2)
