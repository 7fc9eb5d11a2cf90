/* low.h -- the bottom layer of the fixture, including upwards (a circle
 * with app/high.h, which includes this file). */
#ifndef LOW_H
#define LOW_H
#include "app/high.h"
int low_add(int a, int b);
int low_quad(int a);
#endif
