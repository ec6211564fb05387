"""Headless OpenGL renderer (moderngl on EGL; Mesa llvmpipe on CPU): RGB + metric z-depth.

Projection follows the project's camera conventions exactly: OpenCV axes, intrinsics K in pixels of
the rendered image, pixel (i, j) centre at (j + 0.5, i + 0.5). The clip matrix maps the pixel
coordinate u = fx X/Z + cx to window x = u and v to window y = v, so the framebuffer's first row
(GL's bottom row) is image row 0 and no flip is needed. Depth is written from the fragment's
camera-space Z (perspective-correct interpolation, exact on planes); the sky writes 0.

Lighting is view-independent (ambient + sun + up to 4 point lamps, Lambertian), so a surface
point has the same colour in every frame at the same time of day; outdoors, a distance haze
(view-dependent, as in real streets) blends towards the horizon colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slife.errors import SlifeError
from slife.world.textures import TexturePool

SYSTEM_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri libgl1"

_VERTEX = """
#version 330
uniform mat4 u_view;
uniform mat4 u_proj;
in vec3 in_pos;
in vec3 in_normal;
in vec2 in_uv;
in float in_layer;
out vec3 v_world;
out vec3 v_normal;
out vec2 v_uv;
flat out float v_layer;
out float v_z;
void main() {
    vec4 pc = u_view * vec4(in_pos, 1.0);
    v_world = in_pos;
    v_normal = in_normal;
    v_uv = in_uv;
    v_layer = in_layer;
    v_z = pc.z;
    gl_Position = u_proj * pc;
}
"""

_FRAGMENT = """
#version 330
uniform sampler2DArray u_tex;
uniform vec3 u_sun_dir;
uniform vec3 u_sun_color;
uniform vec3 u_ambient;
uniform vec3 u_fog_color;
uniform float u_fog_density;
uniform vec3 u_lamps[4];
uniform int u_n_lamps;
uniform vec3 u_lamp_color;
uniform float u_detail;
uniform float u_detail_freq;
in vec3 v_world;
in vec3 v_normal;
in vec2 v_uv;
flat in float v_layer;
in float v_z;
layout(location = 0) out vec4 f_color;
layout(location = 1) out float f_depth;
float hash3(vec3 p) {  // a fixed pseudo-random value per integer lattice point
    p = fract(p * 0.3183099 + vec3(0.71, 0.113, 0.419));
    p *= 17.0;
    return fract(p.x * p.y * p.z * (p.x + p.y + p.z));
}
float value_noise(vec3 x) {  // trilinear value noise in [0, 1], anchored to world coordinates
    vec3 i = floor(x);
    vec3 f = x - i;
    f = f * f * (3.0 - 2.0 * f);
    return mix(mix(mix(hash3(i), hash3(i + vec3(1, 0, 0)), f.x), mix(hash3(i + vec3(0, 1, 0)), hash3(i + vec3(1, 1, 0)), f.x), f.y),
               mix(mix(hash3(i + vec3(0, 0, 1)), hash3(i + vec3(1, 0, 1)), f.x), mix(hash3(i + vec3(0, 1, 1)), hash3(i + 1.0), f.x), f.y), f.z);
}
void main() {
    vec2 m = 1.0 - abs(mod(v_uv, 2.0) - 1.0);  // mirrored repeat: seamless for photos too
    vec3 albedo = textureGrad(u_tex, vec3(m, v_layer), dFdx(v_uv), dFdy(v_uv)).rgb;
    if (u_detail > 0.0) {  // wear and grime that never repeat: the same on a surface from every view
        vec3 q = v_world * u_detail_freq;
        float d = 0.5 * value_noise(q) + 0.3 * value_noise(2.03 * q + 17.0) + 0.2 * value_noise(4.01 * q + 31.0);
        vec3 tint = vec3(value_noise(0.5 * q + 5.0), value_noise(0.5 * q + 9.0), value_noise(0.5 * q + 13.0)) - 0.5;
        albedo = clamp(albedo * (1.0 + u_detail * (2.0 * d - 1.0)) + 0.5 * u_detail * tint * albedo, 0.0, 1.0);
    }
    vec3 n = normalize(v_normal);
    vec3 light = u_ambient * (0.8 + 0.2 * n.z) + u_sun_color * max(dot(n, u_sun_dir), 0.0);
    for (int i = 0; i < u_n_lamps; ++i) {
        vec3 d = u_lamps[i] - v_world;
        float r2 = dot(d, d);
        light += u_lamp_color * max(dot(n, d * inversesqrt(r2)), 0.0) / (1.0 + 0.25 * r2);
    }
    vec3 c = albedo * light;
    float fog = 1.0 - exp(-u_fog_density * v_z);
    f_color = vec4(mix(c, u_fog_color, fog), 1.0);
    f_depth = v_z;
}
"""

_SKY_VERTEX = """
#version 330
in vec2 in_pos;
void main() { gl_Position = vec4(in_pos, 0.999999, 1.0); }  // behind all geometry nearer than far
"""

_SKY_FRAGMENT = """
#version 330
uniform mat3 u_ray;  // world ray direction of pixel (u, v): u_ray * (u, v, 1)
uniform vec3 u_zenith;
uniform vec3 u_horizon;
uniform vec3 u_sun_dir;
uniform vec3 u_sun_color;
layout(location = 0) out vec4 f_color;
layout(location = 1) out float f_depth;
void main() {
    vec3 d = normalize(u_ray * vec3(gl_FragCoord.xy, 1.0));
    vec3 c = mix(u_horizon, u_zenith, smoothstep(-0.05, 0.6, d.z));
    c += u_sun_color * 0.35 * pow(max(dot(d, u_sun_dir), 0.0), 64.0);
    f_color = vec4(c, 1.0);
    f_depth = 0.0;
}
"""


@dataclass
class Lighting:
    sun_dir: tuple[float, float, float]
    sun_color: tuple[float, float, float]
    ambient: tuple[float, float, float]
    zenith: tuple[float, float, float]
    horizon: tuple[float, float, float]
    fog_density: float
    lamp_color: tuple[float, float, float]
    lamps: tuple[tuple[float, float, float], ...] = ()
    sky: bool = True  # draw the sky gradient (outdoors); indoors the background is never visible


def lighting(hour: float, outdoor: bool, lamps: list[tuple[float, float, float]], fog: float, azimuth: float = 0.0) -> Lighting:
    """Daylight at ``hour`` (0-24): the sun rises ~6 h, peaks at 13 h, sets ~20 h; warm and dim near
    sunrise/sunset, lamps on indoors (stronger when it is dark)."""
    elev = np.deg2rad(60.0) * np.sin(np.pi * np.clip((hour - 6.0) / 14.0, 0.0, 1.0))
    az = azimuth + np.pi * (hour - 6.0) / 14.0
    sun = np.array([np.cos(elev) * np.cos(az), np.cos(elev) * np.sin(az), np.sin(elev)])
    day = float(np.clip(np.sin(elev) / np.sin(np.deg2rad(60.0)), 0.0, 1.0))  # 0 at night .. 1 at noon
    warm = np.array([1.0, 0.62, 0.38])
    white = np.array([1.0, 0.97, 0.9])
    sun_color = (warm + (white - warm) * min(1.0, day * 2.0)) * (0.25 + 0.75 * day)
    zenith = np.array([0.12, 0.16, 0.3]) + (np.array([0.3, 0.5, 0.9]) - np.array([0.12, 0.16, 0.3])) * day
    horizon = np.array([0.9, 0.6, 0.45]) + (np.array([0.75, 0.82, 0.92]) - np.array([0.9, 0.6, 0.45])) * min(1.0, day * 1.6)
    if outdoor:
        ambient = 0.25 * horizon + 0.35 * zenith + 0.1
        return Lighting(tuple(sun), tuple(0.9 * sun_color), tuple(ambient), tuple(zenith), tuple(horizon), fog, (0, 0, 0), ())
    ambient = (0.35 + 0.25 * day) * np.array([0.95, 0.95, 1.0])
    lamp = (0.9 - 0.5 * day) * np.array([1.0, 0.88, 0.7])
    return Lighting(tuple(sun), tuple(0.45 * sun_color), tuple(ambient), tuple(zenith), tuple(horizon), 0.0, tuple(lamp),
                    tuple(lamps[:4]), sky=False)


def intrinsics(size: int, hfov_deg: float) -> np.ndarray:
    """K of a square ``size`` image with horizontal (= vertical) FOV ``hfov_deg``; principal point at the centre."""
    f = size / (2.0 * np.tan(np.deg2rad(hfov_deg) / 2.0))
    return np.array([[f, 0.0, size / 2.0], [0.0, f, size / 2.0], [0.0, 0.0, 1.0]])


def projection(K: np.ndarray, width: int, height: int, near: float, far: float) -> np.ndarray:
    """Camera (OpenCV) -> clip matrix such that window (x, y) = continuous pixel (u, v)."""
    P = np.zeros((4, 4))
    P[0, 0], P[0, 1], P[0, 2] = 2 * K[0, 0] / width, 2 * K[0, 1] / width, 2 * K[0, 2] / width - 1
    P[1, 1], P[1, 2] = 2 * K[1, 1] / height, 2 * K[1, 2] / height - 1
    P[2, 2], P[2, 3] = (far + near) / (far - near), -2 * far * near / (far - near)
    P[3, 2] = 1.0
    return P


def create_context():
    """A headless OpenGL 3.3+ context on EGL; SlifeError naming the system packages if unavailable."""
    try:
        import moderngl
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise SlifeError(f"moderngl: not installed ({exc}); reinstall slife (pip install -e .)") from exc
    try:
        ctx = moderngl.create_context(standalone=True, backend="egl")
    except Exception as exc:
        raise SlifeError(
            f"EGL: cannot create a headless OpenGL context ({exc}). The world renderer needs EGL and "
            f"Mesa's software OpenGL: install the system packages {SYSTEM_PACKAGES} "
            f"(bash scripts/install-system-deps.sh, which `make install` runs)"
        ) from exc
    if ctx.version_code < 330:
        ctx.release()
        raise SlifeError(f"EGL: OpenGL {ctx.version_code} is too old; the renderer needs 3.3 (Mesa >= 17)")
    return ctx


class Renderer:
    """Renders square ``size`` images of box meshes textured from one texture pool."""

    def __init__(
        self,
        size: int,
        pool: TexturePool,
        hfov_deg: float = 65.0,
        far: float = 60.0,
        near: float = 0.05,
        detail: float = 0.0,
        detail_freq: float = 8.0,
    ):
        """``detail``: strength of the world-anchored surface detail (0 = none); ``detail_freq``: its
        base frequency in cycles per metre (octaves at 1x, 2x, 4x)."""
        import moderngl

        self.size = size
        self.K = intrinsics(size, hfov_deg)
        self.far = far
        self.detail, self.detail_freq = float(detail), float(detail_freq)
        self.ctx = create_context()
        ctx = self.ctx
        n, s = pool.layers.shape[0], pool.layers.shape[1]
        self.texture = ctx.texture_array((s, s, n), 3, np.ascontiguousarray(pool.layers).tobytes(), alignment=1)
        self.texture.build_mipmaps()
        self.texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self.texture.anisotropy = 1.0  # anisotropic filtering costs ~4x on llvmpipe
        self.prog = ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        self.prog["u_tex"] = 0
        self.prog["u_proj"].write(projection(self.K, size, size, near, far).T.astype("f4").tobytes())
        self.sky = ctx.program(vertex_shader=_SKY_VERTEX, fragment_shader=_SKY_FRAGMENT)
        tri = np.array([-1, -1, 3, -1, -1, 3], dtype="f4")
        self._sky_vbo = ctx.buffer(tri.tobytes())
        self._sky_vao = ctx.vertex_array(self.sky, [(self._sky_vbo, "2f", "in_pos")])
        self._color = ctx.renderbuffer((size, size), 4)
        self._depth_tex = ctx.renderbuffer((size, size), 1, dtype="f4")
        self._zbuf = ctx.depth_renderbuffer((size, size))
        self.fbo = ctx.framebuffer(color_attachments=[self._color, self._depth_tex], depth_attachment=self._zbuf)
        self._vao = None
        self._vbo = self._ibo = None

    def set_scene(self, vertices: np.ndarray, indices: np.ndarray) -> None:
        """Upload a mesh (``scene.box_mesh`` output), replacing the previous one."""
        for obj in (self._vao, self._vbo, self._ibo):
            if obj is not None:
                obj.release()
        self._vbo = self.ctx.buffer(np.ascontiguousarray(vertices, dtype="f4").tobytes())
        self._ibo = self.ctx.buffer(np.ascontiguousarray(indices, dtype="u4").tobytes())
        self._vao = self.ctx.vertex_array(
            self.prog, [(self._vbo, "3f 3f 2f 1f", "in_pos", "in_normal", "in_uv", "in_layer")], self._ibo
        )

    def render(self, cam_to_world: np.ndarray, light: Lighting) -> tuple[np.ndarray, np.ndarray]:
        """RGB (S, S, 3) uint8 and z-depth (S, S) float32 metres (0 = sky / beyond ``far``)."""
        import moderngl

        if self._vao is None:
            raise RuntimeError("Renderer.set_scene must be called before render")
        c2w = np.asarray(cam_to_world, dtype=np.float64)
        w2c = np.linalg.inv(c2w)
        self.fbo.use()
        self.ctx.viewport = (0, 0, self.size, self.size)
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        # boxes are closed with outward faces wound counter-clockwise in window coordinates
        self.ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        p = self.prog
        p["u_view"].write(w2c.T.astype("f4").tobytes())
        for name, value in (("u_sun_dir", light.sun_dir), ("u_sun_color", light.sun_color),
                            ("u_ambient", light.ambient), ("u_fog_color", light.horizon),
                            ("u_lamp_color", light.lamp_color)):
            p[name].value = tuple(float(v) for v in value)
        p["u_fog_density"].value = float(light.fog_density)
        p["u_detail"].value = float(self.detail)
        p["u_detail_freq"].value = float(self.detail_freq)
        lamps = np.zeros((4, 3), "f4")
        lamps[: len(light.lamps)] = np.asarray(light.lamps, "f4").reshape(-1, 3)[:4]
        p["u_lamps"].write(lamps.tobytes())
        p["u_n_lamps"].value = len(light.lamps)
        self.texture.use(0)
        self._vao.render(moderngl.TRIANGLES)
        if light.sky:  # drawn last, only where no geometry is (no overdraw)
            self.ctx.disable(moderngl.CULL_FACE)
            self.sky["u_ray"].write((c2w[:3, :3] @ np.linalg.inv(self.K)).T.astype("f4").tobytes())
            for name, value in (("u_zenith", light.zenith), ("u_horizon", light.horizon),
                                ("u_sun_dir", light.sun_dir), ("u_sun_color", light.sun_color)):
                self.sky[name].value = tuple(float(v) for v in value)
            self._sky_vao.render(moderngl.TRIANGLES)
        rgba = np.frombuffer(self.fbo.read(components=3, attachment=0, alignment=1), np.uint8)
        depth = np.frombuffer(self.fbo.read(components=1, attachment=1, dtype="f4", alignment=1), np.float32)
        rgb = rgba.reshape(self.size, self.size, 3).copy()
        return rgb, depth.reshape(self.size, self.size).copy()

    def close(self) -> None:
        self.ctx.release()

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
