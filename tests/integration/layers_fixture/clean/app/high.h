/* high.h -- the top layer of the fixture. */
#ifndef HIGH_H
#define HIGH_H
int high_twice(int a);
#endif
