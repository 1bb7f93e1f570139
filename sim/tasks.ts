/**
 * The built-in tasks and their scripted policies. Importing this module
 * registers them; internal code that looks tasks up by name imports it
 * rather than the public index, which also pulls in the renderer and viewer.
 */
import './pusht/pusht-env.js';
import './pusht/scripted-pusher.js';
import './arm/arm-reach-env.js';
import './arm/scripted-expert.js';
