/** Form state shared by the create and edit forms: errors by field, the JSON check, and an edit form's open/fill cycle. */

import { reactive, ref } from "vue";
import { ApiError } from "../lib/api";

/** Errors by field name ("form" for those that belong to no field), and the check of a JSON field. */
export function useFieldErrors() {
  const errors = reactive<Record<string, string>>({});

  function clearErrors() {
    for (const key of Object.keys(errors)) delete errors[key];
  }

  /** Blank text is no value; text that is not JSON sets the field's error. */
  function parseJson(text: string, field: string): { ok: boolean; value?: unknown } {
    if (text.trim() === "") return { ok: true };
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      errors[field] = `Not valid JSON: ${(e as Error).message}`;
      return { ok: false };
    }
  }

  return { errors, clearErrors, parseJson };
}

/** An edit form on a detail page: closed until `open` fills it from the record, with no errors left from before. */
export function useEditForm<F extends Record<string, string>>(fields: F) {
  const { errors, clearErrors, parseJson } = useFieldErrors();
  const form = reactive({ ...fields }) as F;
  const editing = ref(false);

  function open(values: F) {
    Object.assign(form, values);
    clearErrors();
    editing.value = true;
  }

  /** A server error goes beside the field it names (request.email → request), else under the form. */
  function showError(e: unknown) {
    const field = e instanceof ApiError && e.field ? e.field.split(/[.[]/)[0]! : "form";
    errors[field in form ? field : "form"] = (e as Error).message;
  }

  return { form, errors, editing, open, clearErrors, parseJson, showError };
}
