/** Registers cross-module hooks (recovery before mutating commands, the gated activate) once. */
export {};
