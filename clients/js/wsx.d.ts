/** Types for wsx.js. */
export declare function connect(options?: object): unknown;
