/**
 * Departments, campuses and the approved doctors of the institution, loaded once per page for the
 * scheduling filters and forms (doctor names by account id: sessions and templates carry `doctor_id`
 * = the doctor's account id = `user_id` of the profile).
 */
import { computed, ref, type UnwrapNestedRefs } from "vue";
import { api, unwrap } from "../../api/http";
import type { Campus, Department, StaffProfileRow } from "../../api/types";
import { notifyProblem } from "../../composables/problems";

const PAGE = 100;

async function approvedDoctors(): Promise<StaffProfileRow[]> {
  const out: StaffProfileRow[] = [];
  for (let offset = 0; offset < 2000; offset += PAGE) {
    const query = { profession: "doctor" as const, status: "approved" as const, limit: PAGE, offset };
    const page = await unwrap(api.GET("/api/v1/admin/profiles", { params: { query } }));
    out.push(...page.items);
    if (out.length >= page.total || page.items.length < PAGE) break;
  }
  return out;
}

export function useSchedulingLookups() {
  const departments = ref<Department[]>([]);
  const campuses = ref<Campus[]>([]);
  const doctors = ref<StaffProfileRow[]>([]);
  const loaded = ref(false);

  async function loadLookups(): Promise<void> {
    try {
      const [deps, cams, docs] = await Promise.all([
        unwrap(api.GET("/api/v1/admin/departments")),
        unwrap(api.GET("/api/v1/admin/campuses")),
        approvedDoctors(),
      ]);
      departments.value = deps;
      campuses.value = cams;
      doctors.value = docs;
      loaded.value = true;
    } catch (err) {
      notifyProblem(err);
    }
  }

  const doctorName = computed(() => {
    const names = new Map(doctors.value.map((d) => [d.user_id, d.display_name]));
    return (id: number | null | undefined) => (id == null ? "—" : names.get(id) ?? `#${id}`);
  });
  const departmentName = computed(() => {
    const names = new Map(departments.value.map((d) => [d.id, d.name]));
    return (id: number | null | undefined) => (id == null ? "—" : names.get(id) ?? `#${id}`);
  });
  const campusName = computed(() => {
    const names = new Map(campuses.value.map((c) => [c.id, c.name]));
    return (id: number | null | undefined) => (id == null ? "—" : names.get(id) ?? `#${id}`);
  });

  /** Doctors of a department (all doctors when none is chosen). */
  function doctorsOf(departmentId: number | null | undefined): StaffProfileRow[] {
    if (departmentId == null) return doctors.value;
    return doctors.value.filter((d) => d.department_id === departmentId);
  }

  return { departments, campuses, doctors, loaded, loadLookups, doctorName, departmentName, campusName, doctorsOf };
}

/** What the dialogs receive: the lookups with their refs unwrapped (`reactive(useSchedulingLookups())`). */
export type Lookups = UnwrapNestedRefs<ReturnType<typeof useSchedulingLookups>>;
