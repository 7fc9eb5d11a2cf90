/* low.h -- the bottom layer of the fixture. */
#ifndef LOW_H
#define LOW_H
int low_add(int a, int b);
#endif
